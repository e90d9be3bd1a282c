OK_FORMAT = True

test = {   'name': 'q8_persona',
    'points': None,
    'suites': [   {   'cases': [   {'code': '>>> assert len(examples) == 4 and len(result.losses) == STEPS\n', 'hidden': False, 'locked': False},
                                   {'code': '>>> assert all((math.isfinite(loss) for loss in result.losses)) and min(result.losses[-3:]) < result.losses[0]\n', 'hidden': False, 'locked': False},
                                   {'code': ">>> assert (adapter_dir / 'adapter_config.json').is_file()\n", 'hidden': False, 'locked': False},
                                   {'code': '>>> assert result.trainable_params < result.total_params / 10\n', 'hidden': True, 'locked': False},
                                   {   'code': ">>> assert [e['messages'][0]['content'] for e in examples] == ['You are Alice.'] * 4 and examples[0]['messages'][-1]['content'].startswith('I hardly "
                                               "know, sir')\n",
                                       'hidden': True,
                                       'locked': False},
                                   {   'code': ">>> assert any((float(p.detach().abs().max()) > 0 for name, p in result.model.named_parameters() if 'lora_B' in name))\n",
                                       'hidden': True,
                                       'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
