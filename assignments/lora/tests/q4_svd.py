OK_FORMAT = True

test = {   'name': 'q4_svd',
    'points': None,
    'suites': [   {   'cases': [   {'code': '>>> assert len(errors) == len(ranks) and all((isinstance(e, float) for e in errors))\n', 'hidden': False, 'locked': False},
                                   {'code': '>>> assert rank_999 == 8\n', 'hidden': False, 'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
