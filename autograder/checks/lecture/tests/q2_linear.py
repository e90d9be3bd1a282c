OK_FORMAT = True

test = {   'name': 'q2_linear',
    'points': None,
    'suites': [   {   'cases': [   {'code': '>>> assert isinstance(manual_layer, ManualLinear) and len(y_manual) == 5 and (len(y_manual[0]) == 4)\n', 'hidden': False, 'locked': False},
                                   {'code': '>>> assert isinstance(linear_max_diff, float) and linear_max_diff < 1e-05\n', 'hidden': False, 'locked': False},
                                   {'code': '>>> assert torch.allclose(torch.tensor(y_manual), torch_layer(x_t).detach(), atol=1e-05)\n', 'hidden': True, 'locked': False},
                                   {'code': '>>> assert torch.allclose(manual_layer.to_torch().weight, torch_layer.weight)\n', 'hidden': True, 'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
