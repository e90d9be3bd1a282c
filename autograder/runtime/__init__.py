"""The code that runs inside the sandbox, next to the student's code.

Everything in this package is copied into the worker's temporary folder and must import nothing from
the rest of ``autograder`` (the hidden checks and the reference stay outside the sandbox). It holds no
expected answers: probes only call the student's code and report what it did, as plain data.
"""
