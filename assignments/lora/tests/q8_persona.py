OK_FORMAT = True

test = {   'name': 'q8_persona',
    'points': None,
    'suites': [   {   'cases': [   {'code': '>>> assert len(examples) == 4 and len(result.losses) == STEPS\n', 'hidden': False, 'locked': False},
                                   {'code': '>>> assert all((math.isfinite(loss) for loss in result.losses)) and min(result.losses[-3:]) < result.losses[0]\n', 'hidden': False, 'locked': False},
                                   {'code': ">>> assert (adapter_dir / 'adapter_config.json').is_file()\n", 'hidden': False, 'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
