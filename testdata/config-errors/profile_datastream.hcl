# A profile's datastream is the file name of one of the content directory's *-ds.xml files.

profile "node" {
  datastream = "scap/ssg-debian12-ds.xml" # ERROR: Datastream is a file name
}

profile "master" {
  datastream = "ssg-debian12.xml" # ERROR: Not a datastream file name
}

profile "edge" {
  datastream = "ssg-debian13-ds.xml" # ERROR: File not found
}
