import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    """These models are tiny: threads only add contention on shared CI cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
