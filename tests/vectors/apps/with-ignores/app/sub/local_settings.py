# not matched by the anchored /local_settings.py of app/.gitignore
DEBUG = False
