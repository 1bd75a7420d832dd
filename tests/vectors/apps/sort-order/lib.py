# sorts between "lib-extra.py" and "lib/"
