"""The lecture notebook answered differently: comprehensions, einsum, the SVD's own S and hand-made counts."""
ALTERNATE_FOR = "lecture.ipynb"
PATCH = [
    ("C_python = matrix_multiply(A, B)\nmax_abs_diff = (torch.tensor(C_python) - A_t @ B_t).abs().max().item()\n",
     "C_python = [list(row) for row in matrix_multiply(A, B)]\n"
     "expected = torch.einsum(\"ik,kj->ij\", A_t, B_t).tolist()\n"
     "max_abs_diff = max(abs(c - e) for c_row, e_row in zip(C_python, expected) for c, e in zip(c_row, e_row))\n"),
    ("manual_layer = ManualLinear.from_torch(torch_layer)\ny_manual = manual_layer(x_t.tolist())\n"
     "linear_max_diff = (torch.tensor(y_manual) - torch_layer(x_t).detach()).abs().max().item()\n",
     "manual_layer = ManualLinear(6, 4)\n"
     "manual_layer.weight = [list(column) for column in zip(*torch_layer.weight.tolist())]\n"
     "manual_layer.bias = torch_layer.bias.tolist()\n"
     "y_manual = [manual_layer(row) for row in x_t.tolist()]\n"
     "linear_max_diff = float(torch.max(torch.abs(torch.tensor(y_manual) - torch_layer(x_t).detach())))\n"),
    ("full_params = d * k\nrank8_params = 8 * (d + k)\nsaving = compression_ratio(d, k, 8)\n",
     "full_params = 576 ** 2\nrank8_params = 8 * d + 8 * k\nsaving = full_params / rank8_params\n"),
    ("errors = [relative_error(W_real, low_rank_approx(W_real, r)) for r in ranks]\n"
     "rank_999 = rank_for_energy(W_lowrank, 0.999)\n",
     "_, S, _ = torch.linalg.svd(W_real.double(), full_matrices=False)\n"
     "errors = [float(torch.sqrt((S[r:] ** 2).sum() / (S ** 2).sum())) for r in ranks]\n"
     "energy = torch.cumsum(spectrum_lowrank.double() ** 2, 0) / (spectrum_lowrank.double() ** 2).sum()\n"
     "rank_999 = int((energy < 0.999).sum()) + 1\n"),
    ("    fresh_max_diff = (lora_layer(x_lora) - base_layer(x_lora)).abs().max().item()\n"
     "lora_trainable = sum(p.numel() for p in lora_layer.parameters() if p.requires_grad)\n",
     "    fresh_max_diff = float(torch.max(torch.abs(lora_layer(x_lora) - base_layer(x_lora))))\n"
     "lora_trainable = lora_layer.lora_A.numel() + lora_layer.lora_B.numel()\n"),
    ("trainable_by_r = {}\nfor r in r_values:\n"
     "    adapted = apply_lora(copy.deepcopy(base_model), targets, r=r, alpha=2 * r)\n"
     "    trainable_by_r[r] = count_parameters(adapted)[0]\n    del adapted\n",
     "trainable_by_r = {r: count_parameters(apply_lora(copy.deepcopy(base_model), targets, r=r, alpha=r))[0]\n"
     "                  for r in r_values}\n"),
]
