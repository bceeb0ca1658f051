"""A class around the runs: rooms, the students' address on the room's network, the join screen."""
