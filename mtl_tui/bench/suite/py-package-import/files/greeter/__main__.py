from messages import greeting

print(greeting("world"))
