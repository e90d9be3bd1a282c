OK_FORMAT = True

test = {   'name': 'q4_svd',
    'points': None,
    'suites': [   {   'cases': [   {'code': '>>> assert len(errors) == len(ranks) and all((isinstance(e, float) for e in errors))\n', 'hidden': False, 'locked': False},
                                   {'code': '>>> assert rank_999 == 8\n', 'hidden': False, 'locked': False},
                                   {   'code': '>>> s = torch.linalg.svdvals(W_real).double()\n'
                                               '>>> expected = [float((s[r:] ** 2).sum().sqrt() / (s ** 2).sum().sqrt()) for r in ranks]\n'
                                               '>>> assert all((abs(got - want) < 0.001 for got, want in zip(errors, expected)))\n',
                                       'hidden': True,
                                       'locked': False},
                                   {'code': '>>> assert torch.allclose(spectrum_real, torch.linalg.svdvals(W_real))\n', 'hidden': True, 'locked': False},
                                   {'code': '>>> assert spectrum_lowrank[8:].max() < 0.001 * spectrum_lowrank[0]\n', 'hidden': True, 'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
