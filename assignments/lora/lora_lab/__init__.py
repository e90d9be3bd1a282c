"""lora_lab: the LoRA assignment's student package.

Each part lives in its own module (``matmul``, ``linear``, ``lowrank``, ...). The grader imports each
module on its own, so a bug in one part never costs the points of another.
"""
