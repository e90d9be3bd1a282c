OK_FORMAT = True

test = {   'name': 'q5_fresh_lora',
    'points': None,
    'suites': [   {   'cases': [   {'code': '>>> assert fresh_max_diff == 0.0\n', 'hidden': False, 'locked': False},
                                   {'code': '>>> assert lora_trainable == 4 * (64 + 32)\n', 'hidden': False, 'locked': False},
                                   {'code': '>>> assert isinstance(lora_layer, LoRALinear) and float(lora_layer.lora_B.detach().abs().max()) == 0.0\n', 'hidden': True, 'locked': False},
                                   {'code': '>>> assert not base_layer.weight.requires_grad\n', 'hidden': True, 'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
