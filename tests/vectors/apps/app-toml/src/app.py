import toml
print(toml.load("app.toml")["Brand"]["Color"])
