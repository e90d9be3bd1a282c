OK_FORMAT = True

test = {   'name': 'q9_service',
    'points': None,
    'suites': [   {   'cases': [   {'code': ">>> assert chat_reply['character'] == 'Alice' and isinstance(chat_reply['reply'], str)\n", 'hidden': False, 'locked': False},
                                   {'code': ">>> assert engine.characters() == ['Alice']\n", 'hidden': True, 'locked': False},
                                   {   'code': ">>> assert client.post('/api/chat', json={'character': 'Nobody', 'messages': [{'role': 'user', 'content': 'hi'}]}).status_code == 404\n",
                                       'hidden': True,
                                       'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
