"""No-reference IQA ensemble (QualiTeacher's quality estimator, docs/method.md §3)."""
