from greeter.messages import greeting

print(greeting("world"))
