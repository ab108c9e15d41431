# Client library tests (issue 3).
