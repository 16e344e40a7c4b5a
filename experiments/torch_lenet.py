"""The torch LeNet of the course's CIFAR-10 notebook (002), shared by the experiments that run torch.

`lenet()` is the notebook's `Net` as written there: conv 5×5 3→6, ReLU, max-pool 2 → conv 5×5 6→16, ReLU,
max-pool 2 → flatten 400 → 120 → 84 → 10 with ReLU between; it takes NCHW float32 images (N, 3, 32, 32).
Its parameters are created in the notebook's order (conv1, conv2, fc1, fc2, fc3), so one
`torch.manual_seed` gives the notebook's initial weights.
"""


def lenet():
    """A fresh instance of the notebook's `Net`."""
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.pool, self.conv2 = nn.Conv2d(3, 6, 5), nn.MaxPool2d(2, 2), nn.Conv2d(6, 16, 5)
            self.fc1, self.fc2, self.fc3 = nn.Linear(16 * 5 * 5, 120), nn.Linear(120, 84), nn.Linear(84, 10)

        def forward(self, x):
            x = self.pool(torch.relu(self.conv1(x)))
            x = self.pool(torch.relu(self.conv2(x)))
            x = x.view(-1, 16 * 5 * 5)
            return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))

    return Net()
