//! Caffe importer: reader (protobuf + prototxt) and converter to a zoo graph.
