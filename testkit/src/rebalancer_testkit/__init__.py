"""What the chaos test and the system benchmark share: the chaos run on the local stack, its
audit on the simulators' ground truth, and where an account's positions should end."""
