from lib.x import serve  # noqa: F401
from h2o_wave import main  # noqa: F401
