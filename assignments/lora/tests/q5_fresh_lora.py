OK_FORMAT = True

test = {   'name': 'q5_fresh_lora',
    'points': None,
    'suites': [   {   'cases': [   {'code': '>>> assert fresh_max_diff == 0.0\n', 'hidden': False, 'locked': False},
                                   {'code': '>>> assert lora_trainable == 4 * (64 + 32)\n', 'hidden': False, 'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
