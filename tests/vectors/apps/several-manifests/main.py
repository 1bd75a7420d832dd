print("several")
