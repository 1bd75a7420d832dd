from h2o_wave import main  # noqa: F401
