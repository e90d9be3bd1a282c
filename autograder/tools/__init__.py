"""Instructor tooling beside the grader, no part of grading (left out of the Gradescope zip): books,
persona adapters, the chat server."""
