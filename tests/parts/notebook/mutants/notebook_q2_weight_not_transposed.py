"""Question 2: copies nn.Linear's [out, in] weight into ManualLinear as is, without transposing it to [in, out]."""
MODULE = "lecture.ipynb"
CAUGHT_BY = ["notebook/q2_linear"]
PATCH = [("manual_layer = ManualLinear.from_torch(torch_layer)\n",
          "manual_layer = ManualLinear(6, 4)\n"
          "manual_layer.weight = torch_layer.weight.detach().tolist()\n"
          "manual_layer.bias = torch_layer.bias.detach().tolist()\n")]
