package api

// VCD is a virtual CD (an ISO image) kept by the system, GET /api/v1/vcds;
// PUT /api/v1/vcds/{name} uploads one (the body is the ISO), DELETE
// removes it.
type VCD struct {
	Name      string `json:"name"`
	SizeBytes int64  `json:"size_bytes"`
	SHA256    string `json:"sha256"`
	// Nodes holding this copy; a VM can use it on these.
	Nodes []string `json:"nodes"`
}

// VCDList is GET /api/v1/vcds.
type VCDList struct {
	VCDs []VCD `json:"vcds"`
}
