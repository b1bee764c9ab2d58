"""The grader: runs a submission in a sandboxed process and checks it against the reference.

See docs/architecture.md for the path a submission takes.
"""
