// Package applehealth reads the Health app's own export ("Export All Health
// Data": export.zip, or its export.xml alone) as it really is: the XML
// found by its content whatever its localised name (export.xml,
// exportar.xml, 导出.xml), export_cda.xml beside it ignored, the malformed
// DTD of export version 12 skipped unread, characters XML forbids (\x0b)
// taken as they are, workout routes from workout-routes/*.gpx and ECG
// recordings from electrocardiograms/*.csv with their localised labels.
//
// It streams: a file of any size is read one top-level element at a time,
// and a zip cut short is read from its start as far as it goes. What the
// records mean is libs/importer's business; this package only reads them.
package applehealth
