print("bench-models")
