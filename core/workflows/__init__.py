"""Use cases that tie the layers together: ``evaluate``, ``scoring``, ``distill``, ``analytics``, ``export``,
``init``, ``jobs``, ``teacher_cv`` and the model ``cards``."""
