import ICLKit
print("placeholder")
