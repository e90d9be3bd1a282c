"""Question 1: applies ReLU before adding the bias, so negative biases push activations below zero."""
MODULE = "lecture.ipynb"
CAUGHT_BY = ["notebook/q1_matmul"]
PATCH = [("hidden = relu(add_bias(C_python, bias))", "hidden = add_bias(relu(C_python), bias)")]
