OK_FORMAT = True

test = {   'name': 'q1_matmul',
    'points': None,
    'suites': [   {   'cases': [   {'code': '>>> assert isinstance(C_python, list) and len(C_python) == 4 and all((len(row) == 3 for row in C_python))\n', 'hidden': False, 'locked': False},
                                   {'code': '>>> assert isinstance(max_abs_diff, float) and 0 <= max_abs_diff < 1e-05\n', 'hidden': False, 'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
