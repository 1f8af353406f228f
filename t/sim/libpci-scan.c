/* Enumerates a sysfs tree with libpci the way the module does, and prints
 * one line per device: ADDR VENDOR:DEVICE CLASS NUMA GROUP DRIVER HDR.
 * Any libpci error or warning is a failure (exit 1).
 * Build: cc -o libpci-scan libpci-scan.c -lpci
 * Usage: libpci-scan SYSFS_BUS_PCI_DIR */
#include <pci/pci.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int problems;

static void complain(char *msg, ...)
{
	va_list ap;
	va_start(ap, msg);
	vfprintf(stderr, msg, ap);
	va_end(ap);
	fputc('\n', stderr);
	problems++;
}

static void die(char *msg, ...)
{
	va_list ap;
	va_start(ap, msg);
	vfprintf(stderr, msg, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

int main(int argc, char **argv)
{
	struct pci_access *a = pci_alloc();

	if (argc != 2) {
		fprintf(stderr, "usage: libpci-scan SYSFS_BUS_PCI_DIR\n");
		return 2;
	}
	a->error = die;
	a->warning = complain;
	a->method = PCI_ACCESS_SYS_BUS_PCI;
	pci_set_param(a, "sysfs.path", argv[1]);
	pci_init(a);
	pci_scan_bus(a);
	for (struct pci_dev *d = a->devices; d; d = d->next) {
		pci_fill_info(d, PCI_FILL_IDENT | PCI_FILL_CLASS | PCI_FILL_NUMA_NODE |
				 PCI_FILL_IOMMU_GROUP | PCI_FILL_DRIVER);
		char *group = pci_get_string_property(d, PCI_FILL_IOMMU_GROUP);
		char *driver = pci_get_string_property(d, PCI_FILL_DRIVER);
		printf("%04x:%02x:%02x.%d %04x:%04x %04x %d %s %s %02x\n", d->domain, d->bus, d->dev,
		       d->func, d->vendor_id, d->device_id, d->device_class, d->numa_node,
		       group ? group : "-", driver ? driver : "-", pci_read_byte(d, PCI_HEADER_TYPE));
	}
	pci_cleanup(a);
	return problems ? 1 : 0;
}
