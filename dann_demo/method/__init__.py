"""The method of the paper: the gradient reversal layer, the networks, the schedules, the training
step and loop, what a run records, and K runs trained as one."""
