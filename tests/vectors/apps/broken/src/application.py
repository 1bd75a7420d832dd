# The module is src/app.py, but only src/application.py exists.
