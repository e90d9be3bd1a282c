OK_FORMAT = True

test = {   'name': 'q9_service',
    'points': None,
    'suites': [   {   'cases': [{'code': ">>> assert chat_reply['character'] == 'Alice' and isinstance(chat_reply['reply'], str)\n", 'hidden': False, 'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
