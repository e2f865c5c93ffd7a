"""No-reference IQA ensemble (QualiTeacher's quality estimator, method.md §3)."""
