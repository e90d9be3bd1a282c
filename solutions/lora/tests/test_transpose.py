"""Public tests for part 1b (transpose). The grader's hidden checks use other inputs."""

from lora_lab.transpose import transpose


def test_transpose_2x3():
    assert transpose([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]) == [[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]]
