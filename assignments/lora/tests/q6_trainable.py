OK_FORMAT = True

test = {   'name': 'q6_trainable',
    'points': None,
    'suites': [   {   'cases': [   {'code': '>>> assert sorted(trainable_by_r) == r_values\n', 'hidden': False, 'locked': False},
                                   {'code': '>>> assert all((trainable_by_r[2 * r] == 2 * trainable_by_r[r] for r in r_values[:-1]))\n', 'hidden': False, 'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
