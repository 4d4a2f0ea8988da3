#!/usr/bin/env python3
"""Builds the two hand-made Frontier-like XML files (see README.md): hwloc's synthetic CPU tree of
a Frontier node (1 package, 4 NUMA domains of 128 GiB, each with 2 L3 and 16 cores/32 PUs) plus,
under each NUMA domain, the two MI250X GCDs OLCF documents for it, each a PCI device with an RSMI
and an OpenCL OS device. Run from this folder: python3 make_frontier.py (needs hwloc's lstopo)."""
import subprocess
import xml.etree.ElementTree as ET

SYNTH = "pack:1 group:4 [numa(memory=128GiB)] l3:2 core:8 pu:2"
# OLCF's Frontier user guide: GCD -> PCI bus; NUMA domain -> its two GCDs.
GCD_BUS = ["c1", "c6", "c9", "ce", "d1", "d6", "d9", "de"]
NUMA_GCDS = [(4, 5), (2, 3), (6, 7), (0, 1)]
SERIALS = ["PCB052715-0071", "PCB052715-0288", "PCB052715-0413", "PCB052715-0562"]  # invented


def gcd_chain(gcd, gp, with_serial):
    bus = GCD_BUS[gcd]
    host = ET.Element("object", {"type": "Bridge", "gp_index": str(gp), "bridge_type": "0-1", "depth": "0",
                                 "bridge_pci": "0000:[%s-%s]" % (bus, bus)})
    dev = ET.SubElement(host, "object", {"type": "PCIDev", "gp_index": str(gp + 1),
                                         "pci_busid": "0000:%s:00.0" % bus,
                                         "pci_type": "0380 [1002:740c] [1002:0b0c] 01 00",
                                         "pci_link_speed": "0.000000"})
    rsmi = ET.SubElement(dev, "object", {"type": "OSDev", "gp_index": str(gp + 2), "name": "rsmi%d" % gcd,
                                         "subtype": "RSMI", "osdev_type": "1"})
    ET.SubElement(rsmi, "info", {"name": "GPUVendor", "value": "AMD"})
    ET.SubElement(rsmi, "info", {"name": "GPUModel", "value": "AMD Instinct MI250X"})
    if with_serial:
        ET.SubElement(rsmi, "info", {"name": "AMDSerial", "value": SERIALS[gcd // 2]})
    ocl = ET.SubElement(dev, "object", {"type": "OSDev", "gp_index": str(gp + 3), "name": "opencl0d%d" % gcd,
                                        "subtype": "OpenCL", "osdev_type": "5"})
    ET.SubElement(ocl, "info", {"name": "OpenCLDeviceType", "value": "GPU"})
    ET.SubElement(ocl, "info", {"name": "GPUVendor", "value": "Advanced Micro Devices, Inc."})
    ET.SubElement(ocl, "info", {"name": "GPUModel", "value": "gfx90a:sramecc+:xnack-"})
    return host


def build(path, with_serial):
    text = subprocess.run(["lstopo", "--input", SYNTH, "--of", "xml"], check=True,
                          capture_output=True, text=True).stdout
    root = ET.fromstring(text.split("\n", 2)[2])
    groups = [o for o in root.iter("object") if o.get("type") == "Group"]
    gp = 1000
    for numa, group in enumerate(groups):
        for gcd in NUMA_GCDS[numa]:
            group.append(gcd_chain(gcd, gp, with_serial))
            gp += 4
    ET.indent(root, "  ")
    with open(path, "w") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE topology SYSTEM "hwloc2.dtd">\n')
        f.write(ET.tostring(root, encoding="unicode") + "\n")


build("frontier-mi250x.xml", True)
build("frontier-mi250x-noserial.xml", False)
