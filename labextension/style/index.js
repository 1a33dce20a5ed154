import './base.css';
import './details.css';
