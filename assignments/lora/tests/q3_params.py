OK_FORMAT = True

test = {   'name': 'q3_params',
    'points': None,
    'suites': [   {   'cases': [{'code': '>>> assert full_params == 331776\n', 'hidden': False, 'locked': False}, {'code': '>>> assert rank8_params == 9216\n', 'hidden': False, 'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
