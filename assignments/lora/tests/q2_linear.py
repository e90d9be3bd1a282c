OK_FORMAT = True

test = {   'name': 'q2_linear',
    'points': None,
    'suites': [   {   'cases': [   {'code': '>>> assert isinstance(manual_layer, ManualLinear) and len(y_manual) == 5 and (len(y_manual[0]) == 4)\n', 'hidden': False, 'locked': False},
                                   {'code': '>>> assert isinstance(linear_max_diff, float) and linear_max_diff < 1e-05\n', 'hidden': False, 'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
