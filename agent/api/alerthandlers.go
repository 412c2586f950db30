package api

import "net/http"

func (s *Server) alertSettings(w http.ResponseWriter, r *http.Request) {
	a, err := s.backend.AlertSettings(r.Context())
	if err != nil {
		s.backendError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, redact(a))
}

func (s *Server) setAlertSettings(w http.ResponseWriter, r *http.Request) {
	var in AlertSettings
	if !s.decode(w, r, &in) {
		return
	}
	a, err := s.backend.SetAlertSettings(r.Context(), in)
	if err != nil {
		s.backendError(w, r, err)
		return
	}
	s.log.Printf("api: alert settings changed from %s", clientIP(r))
	s.writeJSON(w, http.StatusOK, redact(a))
}

func (s *Server) testAlert(w http.ResponseWriter, r *http.Request) {
	res, err := s.backend.TestAlert(r.Context())
	if err != nil {
		s.backendError(w, r, err)
		return
	}
	if res.Deliveries == nil {
		res.Deliveries = []Delivery{}
	}
	s.log.Printf("api: test alert %d sent from %s", res.Alert.ID, clientIP(r))
	s.writeJSON(w, http.StatusOK, res)
}

// redact keeps the SMTP password out of every answer, whatever the backend
// hands back: it is write-only.
func redact(a AlertSettings) AlertSettings {
	if a.Email != nil {
		e := *a.Email
		if e.Password != nil {
			e.PasswordSet = e.PasswordSet || *e.Password != ""
			e.Password = nil
		}
		if e.To == nil {
			e.To = []string{}
		}
		a.Email = &e
	}
	if a.SNMP == nil {
		a.SNMP = []SNMPTarget{}
	}
	return a
}
