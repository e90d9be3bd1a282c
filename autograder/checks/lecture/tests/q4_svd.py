OK_FORMAT = True

test = {   'name': 'q4_svd',
    'points': None,
    'suites': [   {   'cases': [   {'code': '>>> assert len(errors) == len(ranks) and all((isinstance(e, float) for e in errors))\n', 'hidden': False, 'locked': False},
                                   {'code': '>>> assert rank_999 == 8\n', 'hidden': False, 'locked': False},
                                   {'code': '>>> assert all((a >= b - 1e-06 for a, b in zip(errors, errors[1:]))) and errors[-1] < 0.001\n', 'hidden': True, 'locked': False},
                                   {'code': '>>> assert torch.allclose(spectrum_real, torch.linalg.svdvals(W_real))\n', 'hidden': True, 'locked': False},
                                   {'code': '>>> assert spectrum_lowrank[8:].max() < 0.001 * spectrum_lowrank[0]\n', 'hidden': True, 'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
