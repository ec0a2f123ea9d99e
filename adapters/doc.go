// Package adapters will hold the registry of provider adapters and the
// capability interfaces the host checks for (payments, SMS, tokens). Each
// adapter lives in its own subpackage: the native token engines are in
// adapters/openpaygo and adapters/nexus.
package adapters
