"""Question 2: copies nn.Linear's weight (transposed) into a new ManualLinear but keeps its random bias."""
MODULE = "lecture.ipynb"
CAUGHT_BY = ["notebook/q2_linear"]
PATCH = [("manual_layer = ManualLinear.from_torch(torch_layer)\n",
          "manual_layer = ManualLinear(6, 4)\n"
          "manual_layer.weight = torch_layer.weight.detach().T.tolist()\n")]
