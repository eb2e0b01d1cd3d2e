import torch, torchvision, torch.nn as nn
def n(m): return sum(p.numel() for p in m.parameters())
# ResNet: torchvision, with the small stem swapped in for <=96px
def resnet(depth, classes, small):
    m = getattr(torchvision.models, f"resnet{depth}")(num_classes=classes)
    if small:
        m.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False); m.maxpool = nn.Identity()
    return m
for d in [18,34,50,101,152]:
    print("resnet", d, "small10", n(resnet(d,10,True)), "imagenet1000", n(resnet(d,1000,False)))
for d in [121,169,201]:
    print("densenet", d, "imagenet1000", n(getattr(torchvision.models, f"densenet{d}")(num_classes=1000)))
# VGG-BN with the paper's head (dropout -> BN1d), 32x32 input (s=1)
cfgs = {11:[64,'M',128,'M',256,256,'M',512,512,'M',512,512,'M'],13:[64,64,'M',128,128,'M',256,256,'M',512,512,'M',512,512,'M'],
16:[64,64,'M',128,128,'M',256,256,256,'M',512,512,512,'M',512,512,512,'M'],19:[64,64,'M',128,128,'M',256,256,256,256,'M',512,512,512,512,'M',512,512,512,512,'M']}
def vgg(d, cin, classes, s):
    layers=[]; c=cin
    for v in cfgs[d]:
        if v=='M': layers.append(nn.MaxPool2d(2,2))
        else: layers += [nn.Conv2d(c,v,3,padding=1), nn.BatchNorm2d(v), nn.ReLU()]; c=v
    head = nn.Sequential(nn.Linear(512*s*s,4096), nn.ReLU(), nn.BatchNorm1d(4096), nn.Linear(4096,4096), nn.ReLU(), nn.BatchNorm1d(4096), nn.Linear(4096,classes))
    return nn.Sequential(nn.Sequential(*layers), head)
for d in [11,13,16,19]:
    print("vgg", d, "cifar10", n(vgg(d,3,10,1)), "mnist(1ch)", n(vgg(d,1,10,1)))
# DenseNet-BC for small images: torchvision's DenseNet class with k=12, 3 blocks, 2k stem channels,
# and the 7x7 stem replaced by a 3x3 conv (no norm0/relu0/pool0), as CIFAR DenseNet-BC.
from torchvision.models.densenet import DenseNet
for depth in [40,100,250]:
    L=(depth-4)//6
    m = DenseNet(growth_rate=12, block_config=(L,L,L), num_init_features=24, bn_size=4, num_classes=10)
    m.features.conv0 = nn.Conv2d(3, 24, 3, 1, 1, bias=False)
    del m.features.norm0, m.features.relu0, m.features.pool0
    print("densenet", depth, "cifar10", n(m))
