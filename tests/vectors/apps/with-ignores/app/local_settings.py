DEBUG = True  # a developer's local settings, never bundled
